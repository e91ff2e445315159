// Package infra holds exportguard's Terraform (azurerm) and the test that reads
// it. Terraform cannot run where exportguard is built and tested, so
// infra_test.go parses every .tf file with hashicorp/hcl and checks what a
// reviewer would: every reference resolves to something declared, the
// resources a deployment needs exist and point at each other (the identity the
// function app runs as is the one the role assignments grant), the app
// settings are the ones the functions' bindings and the handler read, and the
// Cosmos DB containers are pkg/cosmos's. It proves the configuration
// consistent, not that Azure accepts it: only terraform plan and apply can.
package infra
