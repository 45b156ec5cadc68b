package network

import "github.com/aiuptime/aiuptime/stack"

func stackSvc(pid int) stack.Service { return stack.Service{Name: "self", PID: pid} }
