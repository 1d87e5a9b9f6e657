package settings

import (
	"testing"

	"github.com/souk/souk/platform/liveconfig"
)

// Every live key that names a setting as its default is that setting's live key, and takes
// the values the setting takes at its bounds: one declaration of the bounds, two doors.
func TestLiveKeysAreTheirSettingsDefaults(t *testing.T) {
	byEnv := map[string]setting{}
	for _, s := range declared() {
		byEnv[s.env] = s
	}
	for _, k := range liveconfig.Keys() {
		if k.Env() == "" {
			continue
		}
		s, ok := byEnv[k.Env()]
		if !ok || s.live != k.Name() {
			t.Errorf("live key %s names %s, which has no live:%q tag", k.Name(), k.Env(), k.Name())
			continue
		}
		if err := k.Check(s.def); err != nil {
			t.Errorf("%s's default %q is refused by live key %s: %v", s.env, s.def, k.Name(), err)
		}
		if lo, hi := k.Bounds(); lo != "" {
			for _, v := range []string{lo, hi} {
				if _, err := parse(declared(), map[string]string{s.env: v}); err != nil {
					t.Errorf("%s %s: the key takes it, the setting refuses it: %v", s.env, v, err)
				}
			}
		}
	}
}
