module github.com/uringd/uringd

go 1.26.0

require golang.org/x/sys v0.50.0

require github.com/klauspost/compress v1.20.4

require go.uber.org/goleak v1.3.0

require golang.org/x/net v0.62.0

require github.com/BurntSushi/toml v1.6.0

require github.com/go-chi/chi/v5 v5.5.0 // indirect
