// Package bench holds the project's benchmarks: Go benchmarks of our own
// components and scripts that run a competitor side by side in the same
// run and print the ratio. Nothing here is imported by the product.
package bench
