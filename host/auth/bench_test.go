package auth

import (
	"context"
	"testing"

	"github.com/wasm-gateway/wasm-gateway/host/clock"
)

func newBenchCache(b *testing.B, profiles ...Profile) *Cache {
	b.Helper()
	res := ResolverFunc(func(context.Context, Profile) (Token, error) {
		return Token{Value: NewSecret("bench-token")}, nil
	})
	c, err := New(CacheConfig{}, profiles, Options{Clock: clock.Real(), Resolver: res})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Warm(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkGetHit(b *testing.B) {
	c := newBenchCache(b, profile("a", "p"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(ctx, "a"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c := newBenchCache(b, profile("a", "p"))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, "a"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkFindAvailable(b *testing.B) {
	c := newBenchCache(b, profile("a", "p"), profile("b", "p"), profile("c", "p"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.FindAvailable(ctx, "p", "", ""); err != nil {
			b.Fatal(err)
		}
	}
}
