package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSOptions configure a NATS bus.
type NATSOptions struct {
	// Stream is the JetStream stream name (default "KIZUNA_EVENTS").
	Stream string
	// Subject is the subject prefix; a message on topic T is published on
	// Subject+"."+T (default "kizuna.events").
	Subject string
	// MaxAge is how long the stream keeps messages (default 7 days).
	MaxAge time.Duration
	// AckWait is how long the server waits for an acknowledgement before
	// redelivering (default 30 s).
	AckWait time.Duration
	// Backoff is the delay before a message whose handler failed is
	// redelivered (default 1 s).
	Backoff time.Duration
	// Logger receives handler failures (default: discarded).
	Logger *slog.Logger
}

// NATS is the bus on a NATS JetStream server: one stream (file storage)
// for the hub's events, deduplicated by message id within two minutes
// (Nats-Msg-Id), and one durable pull consumer per subscription name with
// explicit acknowledgement.
type NATS struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	opt    NATSOptions
	log    *slog.Logger
}

// DialNATS connects to the NATS server at url and creates or updates the
// stream.
func DialNATS(ctx context.Context, url string, opt NATSOptions) (*NATS, error) {
	if opt.Stream == "" {
		opt.Stream = "KIZUNA_EVENTS"
	}
	if opt.Subject == "" {
		opt.Subject = "kizuna.events"
	}
	if opt.MaxAge <= 0 {
		opt.MaxAge = 7 * 24 * time.Hour
	}
	if opt.AckWait <= 0 {
		opt.AckWait = 30 * time.Second
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nc, err := nats.Connect(url, nats.Name("kizuna"), nats.Timeout(5*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("bus: connecting to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: JetStream at %s: %w", url, err)
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       opt.Stream,
		Subjects:   []string{opt.Subject + ".>"},
		Storage:    jetstream.FileStorage,
		MaxAge:     opt.MaxAge,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: creating stream %s at %s: %w", opt.Stream, url, err)
	}
	return &NATS{nc: nc, js: js, stream: st, opt: opt, log: log}, nil
}

// Publish implements Publisher: it returns once the stream stored the
// messages (published asynchronously, then awaited). The message id is the
// Nats-Msg-Id, so a republished event within the deduplication window is
// stored once.
func (n *NATS) Publish(ctx context.Context, ms ...Message) error {
	for _, m := range ms {
		if err := checkMessage(m); err != nil {
			return err
		}
	}
	if len(ms) == 1 {
		m := ms[0]
		if _, err := n.js.Publish(ctx, n.opt.Subject+"."+m.Topic, m.Data, jetstream.WithMsgID(m.ID)); err != nil {
			return fmt.Errorf("bus: publishing %s %q to NATS: %w", m.Topic, m.ID, err)
		}
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(ms))
	for _, m := range ms {
		f, err := n.js.PublishAsync(n.opt.Subject+"."+m.Topic, m.Data, jetstream.WithMsgID(m.ID))
		if err != nil {
			return fmt.Errorf("bus: publishing %s %q to NATS: %w", m.Topic, m.ID, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("bus: publishing %s %q to NATS: %w", ms[i].Topic, ms[i].ID, err)
		case <-ctx.Done():
			return fmt.Errorf("bus: publishing to NATS: %w", ctx.Err())
		}
	}
	return nil
}

type natsSub struct {
	cc     jetstream.ConsumeContext
	cancel context.CancelFunc
}

// Stop implements Subscription.
func (s *natsSub) Stop() {
	s.cancel()
	s.cc.Stop()
	<-s.cc.Closed()
}

// Subscribe implements Bus with a durable pull consumer: AckExplicit,
// unlimited redeliveries, starting at the oldest message of the stream
// when the consumer is new.
func (n *NATS) Subscribe(ctx context.Context, name string, h Handler) (Subscription, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	cons, err := n.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       n.opt.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 1024,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: creating consumer %q on %s: %w", name, n.opt.Stream, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	prefix := n.opt.Subject + "."
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		m := Message{Topic: strings.TrimPrefix(msg.Subject(), prefix), ID: msg.Headers().Get(jetstream.MsgIDHeader), Data: msg.Data()}
		if err := h(ctx, m); err != nil {
			if ctx.Err() == nil {
				n.log.WarnContext(ctx, "bus: delivery failed; redelivering", "consumer", name, "id", m.ID, "err", err)
			}
			_ = msg.NakWithDelay(n.opt.Backoff)
			return
		}
		if err := msg.Ack(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			n.log.WarnContext(ctx, "bus: acknowledging", "consumer", name, "id", m.ID, "err", err)
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if ctx.Err() == nil {
			n.log.WarnContext(ctx, "bus: NATS consumer", "consumer", name, "err", err)
		}
	}), jetstream.PullMaxBytes(deliverBytes*4)) // messages may carry hundreds of events: bound the buffer by size
	if err != nil {
		cancel()
		return nil, fmt.Errorf("bus: consuming %q on %s: %w", name, n.opt.Stream, err)
	}
	return &natsSub{cc: cc, cancel: cancel}, nil
}

// DeleteStream removes the stream and its consumers (tests, resets).
func (n *NATS) DeleteStream(ctx context.Context) error {
	if err := n.js.DeleteStream(ctx, n.opt.Stream); err != nil {
		return fmt.Errorf("bus: deleting stream %s: %w", n.opt.Stream, err)
	}
	return nil
}

// Close drains and closes the connection.
func (n *NATS) Close() error {
	n.nc.Close()
	return nil
}

// Open returns the NATS bus when natsURL is set, else the embedded bus in
// dir.
func Open(ctx context.Context, dir, natsURL string, log *slog.Logger) (Bus, error) {
	if natsURL != "" {
		return DialNATS(ctx, natsURL, NATSOptions{Logger: log})
	}
	return OpenLocal(ctx, dir, LocalOptions{Logger: log})
}
