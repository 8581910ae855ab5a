// grafana-check: Grafana dashboards against the schema Grafana publishes as the Grafana
// Foundation SDK (Apache-2.0); see main.go and ../versions.env.
module pixelgate.local/testcluster/grafana-check

go 1.25.0

require github.com/grafana/grafana-foundation-sdk/go v0.0.22
