package subjects

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var at = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// payloads is one filled-in sample of every type that crosses the wire. A change to a field
// name or type changes its golden file, which a reviewer then sees.
var payloads = map[string]any{
	"error":                   &Error{Code: 400, Slug: "validation", Message: "password: too short", Fields: []FieldError{{Field: "password", Message: "too short"}}, RetryAfter: 0},
	"register_request":        RegisterRequest{Email: "ada@example.com", Password: "correct horse battery", Name: "Ada", Locale: "en"},
	"credentials":             CredentialsRequest{Email: "ada@example.com", Password: "correct horse battery"},
	"user_id_request":         UserIDRequest{ID: "0190c0de-0000-7000-8000-000000000001"},
	"principal":               Principal{UserID: "0190c0de-0000-7000-8000-000000000001", Roles: []string{RoleCustomer}},
	"user":                    User{ID: "0190c0de-0000-7000-8000-000000000001", Email: "ada@example.com", Name: "Ada", Locale: "en", Roles: []string{RoleCustomer}, EmailVerified: true, Addresses: []Address{{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}}, CreatedAt: at},
	"update_me_request":       UpdateMeRequest{Name: ptr("Ada L."), Locale: ptr("de"), Addresses: &[]Address{}},
	"verify_email":            VerifyEmailRequest{Token: "tok"},
	"change_email_request":    ChangeEmailRequest{Email: "ada@example.org", Password: "correct horse battery"},
	"forgot_password_request": ForgotPasswordRequest{Email: "ada@example.com"},
	"reset_password_request":  ResetPasswordRequest{Token: "tok", Password: "a new long passphrase"},
	"change_password_request": ChangePasswordRequest{CurrentPassword: "correct horse battery", NewPassword: "a new long passphrase"},
	"evt_user_link":           UserLink{EventID: "e1", OccurredAt: at, UserID: "u1", Email: "ada@example.org", Link: "https://shop.example/reset?token=tok", ExpiresAt: at},
	"evt_user_password":       UserPasswordChanged{EventID: "e1", OccurredAt: at, UserID: "u1", Reason: PasswordChangedByReset},
	"list_request":            ListRequest{Limit: 20, Cursor: "abc"},
	"user_page":               UserPage{Items: []User{}, NextCursor: "abc"},
	"set_roles_request":       SetRolesRequest{ID: "0190c0de-0000-7000-8000-000000000001", Roles: []string{RoleCustomer, RoleStaff}},
	"login_request":           LoginRequest{Email: "ada@example.com", Password: "correct horse battery"},
	"refresh_request":         RefreshRequest{RefreshToken: "rt"},
	"token_pair":              TokenPair{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer", ExpiresIn: 900},
	"jwks":                    JWKS{Keys: []json.RawMessage{json.RawMessage(`{"kty":"OKP","crv":"Ed25519","x":"AA","kid":"k1","alg":"EdDSA","use":"sig"}`)}},
	"key_info":                KeyInfo{KID: "k1", Algorithm: "EdDSA", CreatedAt: at},
	"money":                   Money{Amount: 1999, Currency: "EUR"},
	"category":                Category{ID: "0190c0de-0000-7000-8000-0000000000c1", ParentID: "0190c0de-0000-7000-8000-0000000000c0", Name: "Kopfhörer", Slug: "headphones", Path: "electronics/headphones", Translations: map[string]CategoryText{"de": {Name: "Kopfhörer"}}, Children: []Category{}},
	"category_tree":           CategoryTree{Items: []Category{{ID: "c0", Name: "Electronics", Slug: "electronics", Path: "electronics"}}},
	"category_create_request": CategoryCreateRequest{Name: "Headphones", Slug: "headphones", ParentID: "electronics", Translations: map[string]CategoryText{"de": {Name: "Kopfhörer"}}},
	"category_update_request": CategoryUpdateRequest{ID: "c1", Name: ptr("Audio"), Slug: ptr("audio"), ParentID: ptr(""), Translations: map[string]*CategoryText{"de": {Name: "Audio"}, "fr": nil}},
	"product_id_request":      ProductIDRequest{ID: "0190c0de-0000-7000-8000-0000000000p1"},
	"product":                 Product{ID: "p1", SKU: "HP-1000", Name: "Studio Headphones", Description: "Closed-back.", Locale: "en", Price: Money{Amount: 8999, Currency: "EUR"}, CategoryID: "c1", Attributes: map[string]string{"color": "black"}, Images: []string{"https://img.example.com/hp.jpg"}, Rating: Rating{Average: 4.5, Count: 2}, InStock: true, Version: 3, Translations: map[string]ProductText{"de": {Name: "Studiokopfhörer", Description: "Geschlossen."}}, CreatedAt: at, UpdatedAt: at},
	"product_create_request":  ProductCreateRequest{SKU: "HP-1000", Name: "Studio Headphones", Description: "Closed-back.", Price: Money{Amount: 8999, Currency: "EUR"}, CategoryID: "c1", Attributes: map[string]string{"color": "black"}, Images: []string{"https://img.example.com/hp.jpg"}, Translations: map[string]ProductText{"de": {Name: "Studiokopfhörer"}}},
	"product_update_request":  ProductUpdateRequest{ID: "p1", Version: ptr(int64(3)), Name: ptr("Studio Headphones II"), Price: &Money{Amount: 7999, Currency: "EUR"}, Attributes: map[string]*string{"color": ptr("white"), "size": nil}, Images: &[]string{}, Translations: map[string]*ProductText{"fr": nil}},
	"search_request":          SearchRequest{Q: "heaphones", Category: "electronics/headphones", MinPrice: ptr(int64(1000)), MaxPrice: ptr(int64(10000)), Currency: "EUR", InStock: ptr(true), MinRating: ptr(4.0), Attributes: map[string][]string{"color": {"black", "white"}}, Sort: SortPriceAsc, Limit: 20, Cursor: "abc"},
	"product_page":            ProductPage{Items: []Product{}, NextCursor: "abc", Facets: Facets{Total: 3, Categories: []CategoryCount{{ID: "c1", ParentID: "c0", Name: "Headphones", Path: "electronics/headphones", Count: 3}}, Attributes: map[string][]ValueCount{"color": {{Value: "black", Count: 2}, {Value: "white", Count: 1}}}, Prices: []PriceBucket{{Currency: "EUR", Min: 5000, Max: ptr(int64(10000)), Count: 2}, {Currency: "EUR", Min: 100000, Count: 1}}, Estimated: true}},
	"review":                  Review{ID: "r1", ProductID: "p1", Rating: 5, Title: "Great", Body: "Clear sound.", AuthorName: "Ada", VerifiedPurchase: true, CreatedAt: at},
	"review_create_request":   ReviewCreateRequest{ProductID: "p1", Rating: 5, Title: "Great", Body: "Clear sound.", AuthorName: "Ada"},
	"review_list_request":     ReviewListRequest{ProductID: "p1", Limit: 10, Cursor: "abc"},
	"review_page":             ReviewPage{Items: []Review{}, NextCursor: "abc"},
	"review_moderate_request": ReviewModerateRequest{ID: "r1", Hidden: true},
	"evt_product_changed":     ProductChanged{EventID: "e1", OccurredAt: at, ProductID: "p1", SKU: "HP-1000", Version: 4, Changed: []string{"name", "price"}, InStock: ptr(true)},
	"evt_price_changed":       PriceChanged{EventID: "e2", OccurredAt: at, ProductID: "p1", SKU: "HP-1000", Version: 4, Old: Money{Amount: 8999, Currency: "EUR"}, New: Money{Amount: 7999, Currency: "EUR"}},
	"evt_category_changed":    CategoryChanged{EventID: "e3", OccurredAt: at, CategoryID: "c1", Path: "electronics/headphones"},
	"evt_order_paid":          OrderPaid{EventID: "e4", OccurredAt: at, OrderID: "o1", UserID: "u1", Lines: []OrderLine{{ProductID: "p1", SKU: "HP-1000", Quantity: 1, UnitPrice: Money{Amount: 7999, Currency: "EUR"}}}, Total: Money{Amount: 7999, Currency: "EUR"}},
	"evt_order_cancelled":     OrderCancelled{EventID: "e5", OccurredAt: at, OrderID: "o1", UserID: "u1", Reason: "customer"},
	"evt_stock_level":         StockLevel{EventID: "e6", OccurredAt: at, SKU: "HP-1000", OnHand: 10, Reserved: 2, Available: 8, Version: 7},
	"sku_request":             SKURequest{SKU: "HP-1000"},
	"stock":                   Stock{SKU: "HP-1000", OnHand: 10, Reserved: 2, Available: 8, Version: 7, UpdatedAt: at},
	"stock_set_request":       StockSetRequest{SKU: "HP-1000", OnHand: ptr(int64(10))},
	"reserve_request":         ReserveRequest{OrderID: "o1", Lines: []ReserveLine{{SKU: "HP-1000", Quantity: 2}}},
	"reservation":             Reservation{OrderID: "o1", Status: ReservationRejected, Lines: []ReserveLine{{SKU: "HP-1000", Quantity: 2}}, ExpiresAt: at, Short: []string{"HP-1000"}},
	"evt_reservation":         ReservationEvent{EventID: "e7", OccurredAt: at, OrderID: "o1", Status: ReservationHeld, Lines: []ReserveLine{{SKU: "HP-1000", Quantity: 2}}, ExpiresAt: at, Reason: "out_of_stock", Short: []string{"HP-1000"}},
	"cart_item_request":       CartItemRequest{ProductID: "p1", Quantity: 2},
	"coupon_code_request":     CouponCodeRequest{Code: "WELCOME10"},
	"cart_checked_out":        CartCheckedOutRequest{OrderID: "o1", Lines: []OrderLine{{ProductID: "p1", SKU: "HP-1000", Quantity: 1, UnitPrice: Money{Amount: 7999, Currency: "EUR"}}}, Coupon: "WELCOME10"},
	"cart":                    Cart{Items: []CartItem{{ProductID: "p1", SKU: "HP-1000", Name: "Studio Headphones", Quantity: 2, UnitPrice: Money{Amount: 7999, Currency: "EUR"}, LineTotal: Money{Amount: 15998, Currency: "EUR"}}}, Subtotal: Money{Amount: 15998, Currency: "EUR"}, Discount: Money{Amount: 1599, Currency: "EUR"}, Total: Money{Amount: 14399, Currency: "EUR"}, Coupon: &CartCoupon{Code: "WELCOME10", Kind: CouponPercent, Value: 10, Discount: Money{Amount: 1599, Currency: "EUR"}, Problem: ""}, Unavailable: []string{"p2"}, Revision: 4, UpdatedAt: &at},
	"coupon_create_request":   CouponCreateRequest{Code: "WELCOME10", Kind: CouponFixed, Value: 500, Currency: "EUR", MinSubtotal: ptr(int64(2000)), StartsAt: &at, EndsAt: &at, MaxRedemptions: ptr(100), PerCustomerLimit: ptr(1)},
	"coupon":                  Coupon{ID: "c1", Code: "WELCOME10", Kind: CouponPercent, Value: 10, MaxRedemptions: ptr(100), PerCustomerLimit: ptr(1), Redemptions: 3, CreatedAt: at},
	"coupon_page":             CouponPage{Items: []Coupon{}, NextCursor: "abc"},
	"coupon_quote_request":    CouponQuoteRequest{Code: "WELCOME10", Subtotal: Money{Amount: 15998, Currency: "EUR"}},
	"coupon_hold_request":     CouponHoldRequest{Code: "WELCOME10", OrderID: "o1", Subtotal: Money{Amount: 15998, Currency: "EUR"}},
	"coupon_release_request":  CouponReleaseRequest{OrderID: "o1"},
	"coupon_discount":         CouponDiscount{Code: "WELCOME10", Kind: CouponPercent, Value: 10, Discount: Money{Amount: 1599, Currency: "EUR"}},
	"evt_coupon":              CouponEvent{EventID: "e8", OccurredAt: at, OrderID: "o1", UserID: "u1", Code: "WELCOME10", Discount: Money{Amount: 1599, Currency: "EUR"}},
	"order_place_request":     OrderPlaceRequest{ShippingAddress: &Address{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}, PaymentMethod: "pm_card_visa"},
	"order_id_request":        OrderIDRequest{ID: "o1"},
	"order":                   Order{ID: "o1", UserID: "u1", Status: OrderStatusReserved, Items: []OrderItem{{ProductID: "p1", SKU: "HP-1000", Name: "Studio Headphones", Quantity: 1, UnitPrice: Money{Amount: 7999, Currency: "EUR"}, LineTotal: Money{Amount: 7999, Currency: "EUR"}}}, Subtotal: Money{Amount: 7999, Currency: "EUR"}, Discount: Money{Amount: 0, Currency: "EUR"}, Total: Money{Amount: 7999, Currency: "EUR"}, ShippingAddress: Address{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}, PaymentMethod: "pm_card_visa", History: []OrderStatus{{Status: OrderStatusPending, At: at}, {Status: OrderStatusReserved, At: at}}, ReservedUntil: &at, Payment: &OrderPayment{ID: "pay1", Status: PaymentStatusSucceeded, Amount: Money{Amount: 7999, Currency: "EUR"}, Refunded: Money{Currency: "EUR"}, Provider: "sandbox"}, Shipment: &OrderShipment{ID: "s1", Status: "pending"}, CreatedAt: at, UpdatedAt: at},
	"order_page":              OrderPage{Items: []Order{}, NextCursor: "abc"},
	"evt_order_placed":        OrderPlaced{EventID: "e9", OccurredAt: at, OrderID: "o1", UserID: "u1", Status: OrderStatusPending, Lines: []OrderLine{{ProductID: "p1", SKU: "HP-1000", Quantity: 1, UnitPrice: Money{Amount: 7999, Currency: "EUR"}}}, Subtotal: Money{Amount: 7999, Currency: "EUR"}, Discount: Money{Currency: "EUR"}, Total: Money{Amount: 7999, Currency: "EUR"}, Coupon: "WELCOME10", PaymentMethod: "pm_card_visa"},
	"evt_order_reserved":      OrderReserved{EventID: "e10", OccurredAt: at, OrderID: "o1", UserID: "u1", Status: OrderStatusReserved, Total: Money{Amount: 7999, Currency: "EUR"}, PaymentMethod: "pm_card_visa", ReservedUntil: at},
	"payment_request":         PaymentRequest{OrderID: "o1", PaymentMethod: "pm_card_visa"},
	"payment_reply":           PaymentReply{ID: "pay1", OrderID: "o1", Status: PaymentStatusProcessing, Amount: Money{Amount: 7999, Currency: "EUR"}, Provider: "sandbox", ClientSecret: "pi_secret", FailureReason: "card_declined"},
	"refund_request":          RefundRequest{OrderID: "o1", Amount: ptr(int64(500))},
	"refund":                  Refund{ID: "r1", OrderID: "o1", PaymentID: "pay1", Amount: Money{Amount: 500, Currency: "EUR"}, Status: "succeeded", CreatedAt: at},
	"stripe_webhook":          StripeWebhook{Payload: []byte(`{"id":"evt_1"}`), Signature: "t=1,v1=abc"},
	"evt_payment_succeeded":   PaymentSucceeded{EventID: "e11", OccurredAt: at, OrderID: "o1", UserID: "u1", PaymentID: "pay1", Amount: Money{Amount: 7999, Currency: "EUR"}, Provider: "sandbox"},
	"evt_payment_failed":      PaymentFailedEvent{EventID: "e12", OccurredAt: at, OrderID: "o1", UserID: "u1", PaymentID: "pay1", Amount: Money{Amount: 7999, Currency: "EUR"}, Provider: "sandbox", Reason: "card_declined"},
	"shipment_order_request":  ShipmentOrderRequest{OrderID: "o1"},
	"shipment_status_request": ShipmentStatusRequest{ID: "s1", Status: ShipmentShipped, TrackingNumber: "1Z999AA10123456784", Carrier: "ups"},
	"shipment_cancel_request": ShipmentCancelRequest{OrderID: "o1", Reason: ReasonCustomer},
	"shipment":                Shipment{ID: "s1", OrderID: "o1", Status: ShipmentShipped, Carrier: "ups", TrackingNumber: "1Z999AA10123456784", Lines: []OrderLine{{ProductID: "p1", SKU: "HP-1000", Quantity: 1, UnitPrice: Money{Amount: 7999, Currency: "EUR"}}}, ShippingAddress: &Address{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}, History: []ShipmentStatus{{Status: ShipmentPending, At: at}, {Status: ShipmentShipped, At: at, TrackingNumber: "1Z999AA10123456784"}}, CreatedAt: at, UpdatedAt: at},
	"evt_shipment":            ShipmentEvent{EventID: "e14", OccurredAt: at, ShipmentID: "s1", OrderID: "o1", UserID: "u1", Status: ShipmentCancelled, From: ShipmentPacked, Carrier: "manual", TrackingNumber: "", Lines: []OrderLine{{ProductID: "p1", SKU: "HP-1000", Quantity: 1, UnitPrice: Money{Amount: 7999, Currency: "EUR"}}}, Reason: ReasonCustomer},
	"evt_order_fulfilment":    OrderFulfilment{EventID: "e15", OccurredAt: at, OrderID: "o1", UserID: "u1", Status: OrderStatusShipped, Shipment: OrderShipment{ID: "s1", Status: ShipmentShipped, Carrier: "ups", TrackingNumber: "1Z999AA10123456784"}, Lines: []OrderLine{{ProductID: "p1", SKU: "HP-1000", Quantity: 1, UnitPrice: Money{Amount: 7999, Currency: "EUR"}}}},
	"evt_payment_refunded":    PaymentRefunded{EventID: "e13", OccurredAt: at, OrderID: "o1", UserID: "u1", PaymentID: "pay1", RefundID: "r1", Amount: Money{Amount: 500, Currency: "EUR"}, TotalRefunded: Money{Amount: 500, Currency: "EUR"}},
	"evt_user_registered":     UserRegistered{EventID: "e16", OccurredAt: at, UserID: "u1", Email: "ada@example.com", Name: "Ada", Locale: "de", VerifyLink: "http://127.0.0.1:8080/verify-email?token=tok", VerifyExpiresAt: &at},
	"evt_user_updated":        UserUpdated{EventID: "e17", OccurredAt: at, UserID: "u1", Email: "ada@example.com", Name: "Ada L.", Locale: "fr"},
	"notification_page":       NotificationPage{Items: []Notification{{ID: "n1", Channel: ChannelEmail, Template: "order_confirmation", Lang: "de", Subject: "Ihre Bestellung", Status: DeliverySent, SentAt: &at, CreatedAt: at}}, NextCursor: "abc"},
	"webhook_create_request":  WebhookCreateRequest{URL: "https://hooks.example.com/souk", Events: []string{"order.paid", "payment.refunded"}},
	"webhook_id_request":      WebhookIDRequest{ID: "w1"},
	"webhook":                 Webhook{ID: "w1", URL: "https://hooks.example.com/souk", Events: []string{"order.paid"}, Secret: "whsec_abc", CreatedAt: at},
	"webhook_page":            WebhookPage{Items: []Webhook{{ID: "w1", URL: "https://hooks.example.com/souk", Events: []string{"order.paid"}, CreatedAt: at, Deliveries: []WebhookDelivery{{ID: "d1", EventID: "e4", Type: "order.paid", Status: DeliveryFailed, Attempts: 8, LastError: "receiver answered 500", CreatedAt: at}}}}, NextCursor: "abc"},
	"admin_orders_request":    OrderAdminListRequest{Status: []string{OrderStatusPaid, OrderStatusFulfilling}, Customer: "ada@example.com", From: "2026-11-01T00:00:00Z", To: "2026-12-01T00:00:00Z", Limit: 20, Cursor: "abc"},
	"order_summary_page":      OrderSummaryPage{Items: []OrderSummary{{ID: "o1", UserID: "u1", Status: OrderStatusCancelled, CancelReason: ReasonCustomer, Total: Money{Amount: 7999, Currency: "EUR"}, Shipment: &OrderShipment{ID: "s1", Status: ShipmentCancelled}, CreatedAt: at, UpdatedAt: at}}, NextCursor: "abc"},
	"shipment_list_request":   ShipmentListRequest{Status: []string{ShipmentPending, ShipmentPacked}, Limit: 20, Cursor: "abc"},
	"shipment_page":           ShipmentPage{Items: []Shipment{}, NextCursor: "abc"},
	"user_email_request":      UserEmailRequest{Email: "ada@example.com"},
	"user_ref":                UserRef{ID: "0190c0de-0000-7000-8000-000000000001"},
	"webhook_event":           WebhookEvent{ID: "e4", Type: "order.paid", OccurredAt: at, Data: json.RawMessage(`{"order_id":"o1"}`)},
}

func ptr[T any](v T) *T { return &v }

func TestGoldenPayloads(t *testing.T) {
	for name, v := range payloads {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./subjects -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed on the wire:\n got %s\nwant %s\nContracts only grow: add optional fields, or make a v2 subject.", name, got, want)
			}
		})
	}
}
