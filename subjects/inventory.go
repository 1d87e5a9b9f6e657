package subjects

import "time"

// The inventory service: stock per SKU and reservations per order. Staff read and set stock;
// the checkout saga reserves from order.placed events. InventoryReserve is the same
// coalescing path for direct callers (a point of sale, an edge site, the benchmark).
var (
	// InventoryGet returns a SKU's counts (staff); an unknown SKU has none: 404.
	InventoryGet = Endpoint[SKURequest, Stock]{Subject: "souk.inventory.v1.stock.get", Access: Require(PermInventoryWrite)}
	// InventorySet sets a SKU's physical count, on_hand (staff). It may not go below what is
	// reserved (409).
	InventorySet = Endpoint[StockSetRequest, Stock]{Subject: "souk.inventory.v1.stock.set", Access: Require(PermInventoryWrite)}
	// InventoryReserve holds every line of one order, or none: 422 out_of_stock naming the
	// short SKUs (staff). Asking again for the same order returns the first outcome.
	InventoryReserve = Endpoint[ReserveRequest, Reservation]{Subject: "souk.inventory.v1.reservation.create", Access: Require(PermInventoryWrite)}
)

// Inventory events, on the INVENTORY stream: souk.evt.inventory.<event>.<sku> for stock
// levels and souk.evt.inventory.<event>.<order id> for reservations. The catalog keeps its
// in_stock copy from stock_changed; the order service follows the reservation events.
var (
	EvtStockLevel = event[StockLevel](StreamInventory, "souk.evt.inventory.stock_changed")
	// EvtInventoryReserved: every line of the order is held until expires_at.
	EvtInventoryReserved = event[ReservationEvent](StreamInventory, "souk.evt.inventory.reserved")
	// EvtInventoryRejected: the order could not be held (reason out_of_stock, short lists the
	// SKUs), or a paid order's expired reservation could not be taken again.
	EvtInventoryRejected = event[ReservationEvent](StreamInventory, "souk.evt.inventory.rejected")
	// EvtInventoryExpired: the hold ran out unpaid and the stock went back.
	EvtInventoryExpired = event[ReservationEvent](StreamInventory, "souk.evt.inventory.expired")
	// EvtInventoryCommitted: the order was paid; its units left on_hand for good.
	EvtInventoryCommitted = event[ReservationEvent](StreamInventory, "souk.evt.inventory.committed")
	// EvtInventoryReleased: the order was cancelled; held or committed units went back.
	EvtInventoryReleased = event[ReservationEvent](StreamInventory, "souk.evt.inventory.released")
)

// Reservation statuses.
const (
	ReservationHeld      = "held"
	ReservationRejected  = "rejected"
	ReservationCommitted = "committed"
	ReservationReleased  = "released"
	ReservationExpired   = "expired"
)

// SKURequest names one SKU.
type SKURequest struct {
	SKU string `json:"sku"`
}

// Stock is a SKU's counts: on_hand is physically there, reserved is held for unpaid orders,
// available = on_hand - reserved and never below zero.
type Stock struct {
	SKU       string `json:"sku" required:"true"`
	OnHand    int64  `json:"on_hand" required:"true"`
	Reserved  int64  `json:"reserved" required:"true"`
	Available int64  `json:"available" required:"true"`
	// Version increases with every change of the SKU.
	Version   int64     `json:"version" required:"true"`
	UpdatedAt time.Time `json:"updated_at" required:"true"`
}

// StockSetRequest is the body of PUT /v1/inventory/{sku}.
type StockSetRequest struct {
	SKU string `json:"sku"`
	// OnHand is the physical count, 0..1 000 000 000; required.
	OnHand *int64 `json:"on_hand" required:"true"`
}

// ReserveLine is one SKU and quantity of a reservation.
type ReserveLine struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// ReserveRequest asks to hold lines for an order.
type ReserveRequest struct {
	OrderID string        `json:"order_id"`
	Lines   []ReserveLine `json:"lines"`
}

// Reservation is an order's hold on stock.
type Reservation struct {
	OrderID string `json:"order_id"`
	// Status is held, rejected, committed, released or expired.
	Status    string        `json:"status"`
	Lines     []ReserveLine `json:"lines"`
	ExpiresAt time.Time     `json:"expires_at"`
	// Short lists the SKUs that lacked stock when the reservation was rejected.
	Short []string `json:"short,omitempty"`
}

// StockLevel is the payload of inventory.stock_changed: a SKU's counts after a change of
// what can be sold (available). A change that leaves available as it was publishes none: a
// paid order's reserved units leaving (on_hand and reserved down together), so on_hand and
// reserved here are as of the last change of available; staff read the current ones from
// the inventory service.
type StockLevel struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	SKU        string    `json:"sku"`
	OnHand     int64     `json:"on_hand"`
	Reserved   int64     `json:"reserved"`
	Available  int64     `json:"available"`
	// Version increases with every change of the SKU, so a consumer can ignore an older
	// level that arrives after a newer one.
	Version int64 `json:"version"`
}

// ReservationEvent is the payload of inventory.reserved, rejected, expired, committed and
// released: the order's reservation after the change.
type ReservationEvent struct {
	EventID    string        `json:"event_id"`
	OccurredAt time.Time     `json:"occurred_at"`
	OrderID    string        `json:"order_id"`
	Status     string        `json:"status"`
	Lines      []ReserveLine `json:"lines"`
	ExpiresAt  time.Time     `json:"expires_at"`
	// Reason says why a reservation was rejected: out_of_stock.
	Reason string   `json:"reason,omitempty"`
	Short  []string `json:"short,omitempty"`
}
