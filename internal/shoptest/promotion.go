package shoptest

import (
	"github.com/souk/souk/platform/kit"
	"github.com/souk/souk/services/promotion"
	"github.com/souk/souk/subjects"
)

// PromotionConfig returns the configuration tests run the promotion service with.
func PromotionConfig() promotion.Config { return promotion.Config{} }

// StartPromotion runs a promotion instance and waits until it answers.
func (e *Env) StartPromotion(cfg promotion.Config) *Instance {
	e.T.Helper()
	return e.Start(func(d kit.Deps) (kit.Service, error) { return promotion.Service(cfg, d) }, func() error {
		_, err := subjects.CouponList.Call(e.Admin, e.NC, subjects.ListRequest{Limit: 1})
		return err
	})
}
