package deid

//go:generate go run ./internal/gentable -data internal/gentable/data -out table_gen.go
