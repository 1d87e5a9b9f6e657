package subjects

import "time"

// Inventory events, on the INVENTORY stream: souk.evt.inventory.<event>.<sku>. The inventory
// service publishes them (issue 4); the catalog keeps its in_stock copy from stock_changed.
const (
	EvtStockLevel = "souk.evt.inventory.stock_changed"
)

// StockLevel is the payload of inventory.stock_changed: a SKU's counts after a change.
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
