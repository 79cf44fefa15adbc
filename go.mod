module github.com/aisedge/aisedge

go 1.26.8

require (
	github.com/suyashkumar/dicom v1.1.0
	go.etcd.io/bbolt v1.4.3
	golang.org/x/text v0.32.0
)

require (
	golang.org/x/exp v0.0.0-20240525044651-4c93da0ed11d // indirect
	golang.org/x/sys v0.39.0 // indirect
)
