package main

import (
	"context"

	"github.com/souk/souk/platform/background"
	"github.com/souk/souk/platform/liveconfig"
	soukLog "github.com/souk/souk/platform/log"
)

// startLive follows the config bucket for the whole process (one watch, whatever parts it
// runs) in a supervised loop, binds the process's log level to it, and returns once the
// bucket is loaded, so that no part starts on a default the operator has changed. At an edge
// site the bucket is the site's mirror of the hub's (bus.SiteBuckets): the site follows the
// hub's settings, and keeps the last ones it had while cut off. stop ends the loop.
func startLive(ctx context.Context, e *env, lvl *soukLog.Level) (stop func(), err error) {
	live := liveconfig.New(e.js, e.log, e.registry)
	loops := background.Start(ctx, e.log.With().Str("part", "process").Logger())
	remove := background.Instrument(e.registry, "process", loops)
	loops.Go("config", live.Run)
	stop = func() { loops.Stop(); remove() }
	if err := live.WaitLoaded(ctx); err != nil {
		stop()
		return nil, err
	}
	liveconfig.LogLevel.Bind(live, lvl.Get()).OnChange(lvl.Set)
	e.live = live
	return stop, nil
}
