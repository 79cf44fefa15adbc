module github.com/aisedge/aisedge

go 1.26.8

require golang.org/x/text v0.31.0
