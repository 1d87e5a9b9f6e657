package shoptest

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

// PromotionConfig returns the configuration tests run the promotion service with.
func PromotionConfig() promotion.Config { return promotion.Config{} }

// StartPromotion runs a promotion instance and waits until it answers.
func (e *Env) StartPromotion(cfg promotion.Config) *Instance {
	e.T.Helper()
	return e.start("promotion", func(ctx context.Context, reg *prometheus.Registry) error {
		return promotion.Run(ctx, cfg, promotion.Deps{Log: e.Log, DB: e.DB, NC: e.NC, JS: e.JS, Registry: reg, Keys: e.Keys.Source})
	}, func() error {
		_, err := subjects.CouponList.Call(e.Admin, e.NC, subjects.ListRequest{Limit: 1})
		return err
	})
}
