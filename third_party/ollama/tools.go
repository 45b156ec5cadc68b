//go:build tools

// Package ollama pins the Ollama server that `make ollama` builds from the Go
// module proxy, and the module that provides miniaudio.h (the Ollama module
// zip lacks llama.cpp's vendor/ headers).
package ollama

import (
	_ "github.com/gen2brain/malgo"
	_ "github.com/ollama/ollama"
)
