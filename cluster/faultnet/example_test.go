package faultnet_test

import (
	"fmt"

	"github.com/proxywhirl/retrycoord/cluster/faultnet"
)

func Example() {
	var fn faultnet.Network
	a, b := fn.NewTransport("a"), fn.NewTransport("b")
	defer a.Shutdown()
	defer b.Shutdown()

	a.WriteTo([]byte("hello"), b.Addr())
	fmt.Printf("%s from %s\n", (<-b.PacketCh()).Buf, a.Addr())

	fn.Partition("alone", "a")
	a.WriteTo([]byte("lost"), b.Addr())
	fmt.Println("dropped:", fn.Dropped())
	// Output:
	// hello from 127.0.0.1:20001
	// dropped: 1
}
