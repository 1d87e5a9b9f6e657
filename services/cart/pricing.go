package cart

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/souk/souk/subjects"
)

// ProblemUnavailable is a coupon's problem while the promotion service cannot be asked.
const ProblemUnavailable = "unavailable"

// pricer prices carts from the catalog and quotes their coupons with the promotion service.
type pricer struct {
	nc *nats.Conn
	// concurrency bounds the catalog calls in flight for one cart.
	concurrency int
	// defaultCurrency prices an empty cart.
	defaultCurrency string
}

// catalogContext is ctx for calls to the catalog: the deadline, request id, trace and
// Accept-Language travel, the customer's token does not. ProductGet is public, and an
// anonymous read is the one the catalog answers from its cache on the subscription goroutine
// without verifying anything.
func catalogContext(ctx context.Context) context.Context {
	m := subjects.MetaFrom(ctx)
	return subjects.WithMeta(ctx, subjects.Meta{RequestID: m.RequestID, Traceparent: m.Traceparent, AcceptLanguage: m.AcceptLanguage})
}

// product asks the catalog for one listed product. A product that is not (or no longer)
// listed is errGone.
func (p *pricer) product(ctx context.Context, id string) (subjects.Product, error) {
	prod, err := subjects.ProductGet.Call(catalogContext(ctx), p.nc, subjects.ProductIDRequest{ID: id})
	if errors.Is(err, subjects.ErrNotFound) {
		return prod, errGone
	}
	return prod, err
}

// errGone is a product the catalog no longer lists.
var errGone = errors.New("product gone")

// products asks the catalog for the product of every line of c at once (at most
// p.concurrency calls in flight); the result is aligned with c.Items, nil for a gone product.
// Any other failure fails the whole read: a cart cannot be priced without its prices.
func (p *pricer) products(ctx context.Context, c Cart) ([]*subjects.Product, error) {
	got := make([]*subjects.Product, len(c.Items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.concurrency)
	for i, l := range c.Items {
		g.Go(func() error {
			prod, err := p.product(gctx, l.ProductID)
			if errors.Is(err, errGone) {
				return nil
			}
			if err != nil {
				return err
			}
			got[i] = &prod
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return got, nil
}

// price is the wire form of c at revision rev, priced now: each line at the catalog's price,
// lines of gone products (or, after a price moved to another currency, of products no
// longer in the cart's currency) listed as unavailable and left out of the totals, and the
// coupon re-quoted on the subtotal.
func (p *pricer) price(ctx context.Context, c Cart, rev uint64) (subjects.Cart, error) {
	prods, err := p.products(ctx, c)
	if err != nil {
		return subjects.Cart{}, err
	}
	cur := c.Currency
	if cur == "" {
		cur = p.defaultCurrency
	}
	out := subjects.Cart{Items: make([]subjects.CartItem, 0, len(c.Items)), Revision: rev}
	if !c.UpdatedAt.IsZero() {
		at := c.UpdatedAt
		out.UpdatedAt = &at
	}
	var subtotal int64
	for i, l := range c.Items {
		prod := prods[i]
		if prod == nil || prod.Price.Currency != cur {
			out.Unavailable = append(out.Unavailable, l.ProductID)
			continue
		}
		// No overflow: the catalog caps a price at 1e11 minor units, a line at 999 units
		// and a cart at a few hundred lines, far below 2^63.
		line := prod.Price.Amount * int64(l.Quantity)
		subtotal += line
		out.Items = append(out.Items, subjects.CartItem{ProductID: l.ProductID, SKU: prod.SKU, Name: prod.Name,
			Quantity: l.Quantity, UnitPrice: prod.Price, LineTotal: subjects.Money{Amount: line, Currency: cur}})
	}
	out.Subtotal = subjects.Money{Amount: subtotal, Currency: cur}
	out.Discount = subjects.Money{Currency: cur}
	if c.Coupon != "" {
		out.Coupon = p.coupon(ctx, c.Coupon, out.Subtotal)
		out.Discount = out.Coupon.Discount
	}
	out.Total = subjects.Money{Amount: subtotal - out.Discount.Amount, Currency: cur}
	return out, nil
}

// quote asks the promotion service what code is worth on subtotal, for the caller (the
// customer's token travels: per-customer limits are the caller's).
func (p *pricer) quote(ctx context.Context, code string, subtotal subjects.Money) (subjects.CouponDiscount, error) {
	return subjects.CouponQuote.Call(ctx, p.nc, subjects.CouponQuoteRequest{Code: code, Subtotal: subtotal})
}

// coupon is the applied code's worth now. A read never fails for its coupon: a code no
// longer valid stays applied, worth 0, with the promotion service's slug as its problem
// (coupon_expired, …); while the promotion service cannot answer the problem is
// ProblemUnavailable.
func (p *pricer) coupon(ctx context.Context, code string, subtotal subjects.Money) *subjects.CartCoupon {
	cc := &subjects.CartCoupon{Code: code, Discount: subjects.Money{Currency: subtotal.Currency}}
	d, err := p.quote(ctx, code, subtotal)
	var se *subjects.Error
	switch {
	case err == nil:
		cc.Kind, cc.Value = d.Kind, d.Value
		if d.Discount.Currency == subtotal.Currency {
			// Never more than the subtotal, whatever the promotion service says.
			cc.Discount.Amount = min(max(d.Discount.Amount, 0), subtotal.Amount)
		} else {
			cc.Problem = "currency_mismatch"
		}
	case errors.As(err, &se) && se.Code < 500:
		cc.Problem = se.Slug
	default:
		zerolog.Ctx(ctx).Warn().Err(err).Msg("cart: coupon not quoted")
		cc.Problem = ProblemUnavailable
	}
	if cc.Problem == "" && err != nil {
		cc.Problem = "invalid"
	}
	return cc
}
