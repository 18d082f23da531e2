// Package bus carries hub events (an object version committed, a sighting,
// a vulnerability finding, a case change) from the code that causes them to
// the consumers that act on them, such as alerting.
//
// A Bus has two operations: Publish appends a message, and Subscribe runs a
// handler for every message through a durable consumer with at-least-once
// delivery: a message counts as consumed only when its handler returned
// nil (the acknowledgement); a handler error, a crash or a restart makes
// it come again. Consumers must therefore be idempotent (the alert
// dispatcher deduplicates by idempotency key).
//
// Two implementations: Local, embedded and the default, keeps the event log
// in DIR/bus.db (SQLite), so command-line writers (kizuna import, misp,
// feed, vuln) and the server share it across processes; NATS uses a
// JetStream stream with durable consumers and explicit acknowledgement,
// for hubs that outgrow one machine.
package bus

import (
	"context"
	"fmt"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Message is one event on the bus.
type Message struct {
	// Topic is the kind of event ("object-added", "sighting", "finding",
	// "case"): lowercase letters, digits and '-'.
	Topic string
	// ID identifies the event; publishing the same ID twice within the
	// deduplication window (NATS) may be dropped, and consumers use it to
	// recognise redeliveries.
	ID string
	// Data is the encoded event.
	Data []byte
}

// Handler processes one message. Returning nil acknowledges it; an error
// has it delivered again later.
type Handler func(ctx context.Context, m Message) error

// Publisher appends messages to the bus.
type Publisher interface {
	// Publish appends ms (in order) and returns once they are durable.
	Publish(ctx context.Context, ms ...Message) error
}

// Bus is a publisher with durable subscriptions.
type Bus interface {
	Publisher
	// Subscribe delivers the messages not yet acknowledged by the durable
	// consumer name, oldest first, to h until ctx is done or Stop is
	// called. A consumer seen for the first time starts at the oldest
	// message the bus still holds.
	Subscribe(ctx context.Context, name string, h Handler) (Subscription, error)
	// Close releases the bus; subscriptions must be stopped first.
	Close() error
}

// Subscription is a running durable subscription.
type Subscription interface {
	// Stop ends the subscription and waits for a running handler.
	Stop()
}

// checkTopic validates a topic (it becomes a NATS subject token).
func checkTopic(t string) error {
	if t == "" || len(t) > 64 || strings.IndexFunc(t, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-'
	}) >= 0 {
		return fmt.Errorf("bus: topic %q (want lowercase letters, digits and '-'): %w", t, errkind.Invalid)
	}
	return nil
}

// checkName validates a durable consumer name.
func checkName(n string) error {
	if n == "" || len(n) > 64 || strings.IndexFunc(n, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_'
	}) >= 0 {
		return fmt.Errorf("bus: consumer name %q (want letters, digits, '-' and '_'): %w", n, errkind.Invalid)
	}
	return nil
}

func checkMessage(m Message) error {
	if err := checkTopic(m.Topic); err != nil {
		return err
	}
	if m.ID == "" {
		return fmt.Errorf("bus: message on %q without id: %w", m.Topic, errkind.Invalid)
	}
	return nil
}
