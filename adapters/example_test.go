package adapters_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/fixtures"
)

// Check tells what a model folder is and whether its graphs fit their
// roles, from signatures alone: nothing is loaded into ONNX Runtime.
func ExampleCheck() {
	dir, err := os.MkdirTemp("", "coop-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := fixtures.Write(dir, "sdxl"); err != nil {
		log.Fatal(err)
	}

	info, err := adapters.Check(filepath.Join(dir, "sdxl"), adapters.LoadOptions{Name: "base"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Name, info.Family, info.Space.Name, info.Channels, info.ContextWidth)
	for _, c := range info.Components {
		fmt.Println(c.Role)
	}

	// The same folder cannot stand in for an SD 1.x model.
	_, err = adapters.Check(filepath.Join(dir, "sdxl"), adapters.LoadOptions{Name: "base", FamilyOverride: adapters.SD1})
	fmt.Println(err != nil)
	// Output:
	// base sdxl sdxl 4 2048
	// unet
	// vae_encoder
	// vae_decoder
	// text_encoder
	// text_encoder_2
	// true
}
