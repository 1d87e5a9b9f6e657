package subjects

import "embed"

// Source holds this package's Go files. The gateway reads the contract's doc comments and
// constants from it when it builds the OpenAPI document (field and operation descriptions,
// enums), so the comments here are the one source of those texts and values.
//
//go:embed *.go
var Source embed.FS
