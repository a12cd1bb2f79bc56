// Command gendocs prints docs/datasources.md:
//
//	go run ./connectors/gendocs > docs/datasources.md
package main

import (
	"fmt"

	"github.com/flowgate/flowgate/connectors/all"
)

func main() {
	fmt.Print(all.Docs())
}
