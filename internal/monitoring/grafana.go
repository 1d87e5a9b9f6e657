package monitoring

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// DatasourceUID is the uid infra/grafana/provisioning gives the Prometheus data source; every
// panel and variable names it, so a dashboard never depends on which source is the default.
const DatasourceUID = "souk-prometheus"

// datasource is the reference every panel, query and variable carries.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(DatasourceUID)}

// The dashboards are declared as data (board, row, panel, query) and turned into Grafana's
// JSON model by the Foundation SDK's builders, so that a panel reads as its title, its
// queries and its unit, and the layout and the JSON's details are written once here.

// board is one dashboard: its file under DashboardsDir, uid, title and contents.
type board struct {
	file, uid, title, help string
	vars                   []variable
	items                  []any // row or panel, in order
}

// row starts a row of panels, titled.
type row string

// variable is a template variable whose values a label_values() query lists.
type variable struct {
	name, label, query string
	// regex keeps the values it matches, its capture group when it has one.
	regex string
	// all adds an "All" choice, the default.
	all bool
}

// kind is how a panel draws.
type kind int

const (
	graph    kind = iota // a time series
	single               // one big number (stat)
	bars                 // horizontal bars, one per series (bar gauge)
	tabulate             // a table of instant values
)

// panel is one panel: what it shows (queries), how (kind, unit) and its size on the
// 24-column grid.
type panel struct {
	kind              kind
	title, help, unit string
	w, h              uint32
	queries           []query
	stacked           bool
}

// query is one PromQL target with its legend.
type query struct {
	expr, legend string
}

// q is a query.
func q(expr, legend string) query { return query{expr: expr, legend: legend} }

func graphOf(title, help, unit string, qs ...query) panel {
	return panel{kind: graph, title: title, help: help, unit: unit, w: 12, h: 8, queries: qs}
}

func statOf(title, help, unit string, qs ...query) panel {
	return panel{kind: single, title: title, help: help, unit: unit, w: 6, h: 4, queries: qs}
}

func barsOf(title, help, unit string, qs ...query) panel {
	return panel{kind: bars, title: title, help: help, unit: unit, w: 12, h: 8, queries: qs}
}

func tableOf(title, help, unit string, qs ...query) panel {
	return panel{kind: tabulate, title: title, help: help, unit: unit, w: 24, h: 8, queries: qs}
}

// width returns p w columns wide.
func (p panel) width(w uint32) panel { p.w = w; return p }

// stack returns p with its series stacked.
func (p panel) stack() panel { p.stacked = true; return p }

// builder is what every SDK panel builder offers, so that fill serves them all.
type builder[B any] interface {
	cog.Builder[dashboard.Panel]
	Id(uint32) B
	Title(string) B
	Description(string) B
	Datasource(common.DataSourceRef) B
	Unit(string) B
	Span(uint32) B
	Height(uint32) B
	WithTarget(cog.Builder[variants.Dataquery]) B
}

// fill sets what every kind of panel shares and adds p's queries, each an instant one when
// the panel shows one value per series.
func fill[B builder[B]](b B, p panel, id uint32) B {
	b.Id(id).Title(p.title).Description(p.help).Datasource(datasource).Unit(p.unit).Span(p.w).Height(p.h)
	for i, t := range p.queries {
		dq := prometheus.NewDataqueryBuilder().Datasource(datasource).RefId(string(rune('A' + i))).Expr(t.expr)
		if t.legend != "" {
			dq.LegendFormat(t.legend)
		}
		switch p.kind {
		case graph:
			dq.Range()
		case tabulate:
			dq.Instant().Format(prometheus.PromQueryFormatTable)
		default:
			dq.Instant()
		}
		b.WithTarget(dq)
	}
	return b
}

// build turns p into its SDK builder.
func (p panel) build(id uint32) cog.Builder[dashboard.Panel] {
	lastAndMax := []string{"lastNotNull", "max"}
	switch p.kind {
	case single:
		return fill(stat.NewPanelBuilder(), p, id).GraphMode(common.BigValueGraphModeArea).
			ColorMode(common.BigValueColorModeValue).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
	case bars:
		return fill(bargauge.NewPanelBuilder(), p, id).Orientation(common.VizOrientationHorizontal).
			DisplayMode(common.BarGaugeDisplayModeGradient).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
	case tabulate:
		return fill(table.NewPanelBuilder(), p, id)
	}
	b := fill(timeseries.NewPanelBuilder(), p, id).Legend(common.NewVizLegendOptionsBuilder().
		DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementBottom).
		ShowLegend(true).Calcs(lastAndMax)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	if p.stacked {
		b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(30)
	}
	return b
}

// build turns b into Grafana's dashboard model.
func (b board) build() (dashboard.Dashboard, error) {
	d := dashboard.NewDashboardBuilder(b.title).Uid(b.uid).Description(b.help).
		Tags([]string{"souk"}).Refresh("30s").Time("now-3h", "now").Timezone("browser").
		Tooltip(dashboard.DashboardCursorSyncCrosshair)
	for _, v := range b.vars {
		d.WithVariable(dashboard.NewQueryVariableBuilder(v.name).Label(v.label).Datasource(datasource).
			Query(dashboard.StringOrMap{String: cog.ToPtr(v.query)}).Definition(v.query).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
			IncludeAll(v.all).Multi(v.all).Regex(v.regex))
	}
	var id uint32
	for _, item := range b.items {
		id++
		switch it := item.(type) {
		case row:
			d.WithRow(dashboard.NewRowBuilder(string(it)).Id(id))
		case panel:
			d.WithPanel(it.build(id))
		default:
			return dashboard.Dashboard{}, fmt.Errorf("%s: item %d is a %T, not a row or a panel", b.file, id, item)
		}
	}
	return d.Build()
}

// Generate returns each dashboard's JSON by its file name under DashboardsDir.
func Generate() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, b := range boards() {
		d, err := b.build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.file, err)
		}
		raw, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.file, err)
		}
		out[b.file] = append(raw, '\n')
	}
	return out, nil
}

// boards are the dashboards infra/grafana provisions.
func boards() []board {
	return []board{overview(), service(), funnel(), jetStream(), edge()}
}
