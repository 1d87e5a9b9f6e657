// Command ceiling serves the bare chains that Souk's read paths are measured against, so a
// benchmark can report "Souk / ceiling" from one run on the same machine:
//
//	/direct  Fiber answers from memory                      (the HTTP ceiling)
//	/mem     Fiber → NATS request → micro service, memory    (the gateway→service ceiling)
//	/pg      Fiber → NATS request → micro service → one pgx primary-key select
//
// It embeds its own NATS server on a free port and makes its own table in DATABASE_URL.
// Usage: go run ./bench/ceiling -addr 127.0.0.1:18080 -db postgres://postgres@127.0.0.1:5432/souk_ceiling
// then point wrk at each path (bench/ceiling/run.sh does both and prints a table). It is
// part of Souk's module, so it is built with the same versions of Fiber, nats.go and pgx as
// the shop it is the ceiling of.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

const rows = 100_000

var product = []byte(`{"id":"0190c0de-0000-7000-8000-000000000001","sku":"SKU-1","name":"Wireless Headphones","description":"Over-ear, 30 h battery","price":{"amount":8999,"currency":"EUR"},"category_id":"0190c0de-0000-7000-8000-0000000000aa","attributes":{"color":"black"},"images":[],"rating":{"average":4.5,"count":12},"in_stock":true}`)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "HTTP listen address")
	pprofAddr := flag.String("pprof", "", "serve Go's profiles (/debug/pprof/) on this address, to compare with the shop's; off when empty")
	db := flag.String("db", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/souk_ceiling?sslmode=disable"), "PostgreSQL URL")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true})
	must(err)
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		log.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	must(err)

	pool, err := pgxpool.New(ctx, *db)
	must(err)
	_, err = pool.Exec(ctx, `create table if not exists ceiling_products (id bigint primary key, body text not null)`)
	must(err)
	var n int
	must(pool.QueryRow(ctx, `select count(*) from ceiling_products`).Scan(&n))
	if n < rows {
		_, err = pool.Exec(ctx, `insert into ceiling_products select g, $1 from generate_series(1, $2) g on conflict do nothing`, string(product), rows)
		must(err)
	}

	_, err = micro.AddService(nc, micro.Config{Name: "ceilingmem", Version: "0.0.1",
		Endpoint: &micro.EndpointConfig{Subject: "ceiling.mem", Handler: micro.HandlerFunc(func(r micro.Request) { _ = r.Respond(product) })}})
	must(err)
	_, err = micro.AddService(nc, micro.Config{Name: "ceilingpg", Version: "0.0.1",
		Endpoint: &micro.EndpointConfig{Subject: "ceiling.pg", Handler: micro.HandlerFunc(func(r micro.Request) {
			go func() { // a real service answers concurrently; so does this one
				var body string
				id := rand.IntN(rows) + 1
				if err := pool.QueryRow(context.Background(), `select body from ceiling_products where id = $1`, id).Scan(&body); err != nil {
					_ = r.Error("500", err.Error(), nil)
					return
				}
				_ = r.Respond([]byte(body))
			}()
		})}})
	must(err)

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/direct", func(c *fiber.Ctx) error { c.Set("Content-Type", "application/json"); return c.Send(product) })
	relay := func(subject string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			m, err := nc.Request(subject, nil, 2*time.Second)
			if err != nil {
				return c.Status(503).SendString(err.Error())
			}
			c.Set("Content-Type", "application/json")
			return c.Send(m.Data)
		}
	}
	app.Get("/mem", relay("ceiling.mem"))
	app.Get("/pg", relay("ceiling.pg"))
	go func() { <-ctx.Done(); _ = app.Shutdown() }()
	fmt.Println("ceiling ready on http://" + *addr + " (" + strconv.Itoa(rows) + " rows; nats " + ns.ClientURL() + ")")
	must(app.Listen(*addr))
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
