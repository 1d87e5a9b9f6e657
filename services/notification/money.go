package notification

import (
	"strconv"
	"strings"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"

	"github.com/souk/souk/subjects"
)

// moneyStyle is how one language writes an amount: group and decimal separators, and
// whether the currency comes first ("€1,234.56") or last ("1.234,56 €").
type moneyStyle struct {
	group, decimal string
	symbolFirst    bool
}

// Non-breaking spaces, as CLDR has them: the amount never breaks from its symbol, and
// French groups digits with a narrow one.
const (
	nbsp       = "\u00a0"
	narrowNBSP = "\u202f"
)

// moneyStyles are the languages the templates are written in; any other falls back to
// English, as the templates do.
var moneyStyles = map[language.Base]moneyStyle{
	language.MustParseBase("en"): {group: ",", decimal: ".", symbolFirst: true},
	language.MustParseBase("de"): {group: ".", decimal: ","},
	language.MustParseBase("fr"): {group: narrowNBSP, decimal: ","},
}

// symbols are the currency signs written instead of the ISO code.
var symbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}

// FormatMoney writes m (minor units) as lang writes money: 123456 EUR is "€1,234.56" in
// English, "1.234,56 €" in German and "1 234,56 €" in French. The number of decimals is the
// currency's (none for JPY); an unknown currency has two and is written by its code.
func FormatMoney(m subjects.Money, lang language.Tag) string {
	base, _ := lang.Base()
	style, ok := moneyStyles[base]
	if !ok {
		style = moneyStyles[language.MustParseBase("en")]
	}
	digits := 2
	if unit, err := currency.ParseISO(m.Currency); err == nil {
		digits, _ = currency.Standard.Rounding(unit)
	}
	amount := m.Amount
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	s := strconv.FormatInt(amount, 10)
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	whole, frac := s[:len(s)-digits], s[len(s)-digits:]
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(style.group)
		}
		b.WriteRune(r)
	}
	if digits > 0 {
		b.WriteString(style.decimal + frac)
	}
	symbol, isSign := symbols[m.Currency]
	if !isSign {
		symbol = m.Currency
	}
	switch {
	case style.symbolFirst && isSign:
		return sign + symbol + b.String()
	case style.symbolFirst:
		return sign + symbol + nbsp + b.String()
	default:
		return sign + b.String() + nbsp + symbol
	}
}
