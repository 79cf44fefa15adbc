module github.com/aisedge/aisedge

go 1.26.8
