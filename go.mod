module github.com/aisedge/aisedge

go 1.26.8

require golang.org/x/text v0.31.0

require (
	github.com/suyashkumar/dicom v1.1.0 // indirect
	golang.org/x/exp v0.0.0-20240525044651-4c93da0ed11d // indirect
)
