package faults

import "github.com/vishvananda/netns"

func nsFromPath(path string) (netns.NsHandle, error) { return netns.GetFromPath(path) }
