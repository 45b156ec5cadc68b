package containers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// BenchmarkImageBuildCold builds each fixture image from scratch: a nonce
// file in the context gives a tag Docker has never seen (no layer cache).
// The nonce tag is removed afterwards.
func BenchmarkImageBuildCold(b *testing.B) {
	benchImages(b, true)
}

// BenchmarkImageCached is EnsureImage when the content-hash tag exists:
// hashing the binaries and one inspect.
func BenchmarkImageCached(b *testing.B) {
	benchImages(b, false)
}

func benchImages(b *testing.B, cold bool) {
	ctx := context.Background()
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		b.Skipf("docker: %v", err)
	}
	defer cli.Close()
	root, err := fixturebin.ModuleRoot()
	if err != nil {
		b.Skip(err)
	}
	for _, fx := range []string{FixtureModelServer, FixtureGateway, FixtureToxiproxy} {
		if _, err := EnsureImage(ctx, cli, nil, fx); err != nil { // binaries and the cached image
			b.Fatal(err)
		}
		b.Run(fx, func(b *testing.B) {
			files, err := buildContext(root, fixturebin.Dir(), fixtures[fx])
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				if !cold {
					if bi, err := EnsureImage(ctx, cli, nil, fx); err != nil || bi.Built {
						b.Fatalf("cached: built=%v err=%v", bi.Built, err)
					}
					continue
				}
				nonce := append(files[:len(files):len(files)], contextFile{name: "nonce", data: []byte(fmt.Sprint(i, b.N)), mode: 0o644})
				tag := strings.Replace(contentTag(fx, nonce), "aiuptime/", "aiuptime-bench/", 1)
				if err := buildImage(ctx, cli, nonce, fx, tag); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
