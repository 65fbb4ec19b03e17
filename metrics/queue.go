package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailward/queue"
)

// QueueSource is what the queue collector reads at each scrape: the
// queue's running tally (queue.Queue.Summary), whose cost does not grow
// with the number of messages, so a scrape costs the same with 100,000
// messages queued as with one, and nothing polls between scrapes.
type QueueSource interface {
	Summary(now time.Time) queue.Summary
}

// QueueCollector exposes the delivery queues as gauges computed at
// scrape time.
type QueueCollector struct {
	src        QueueSource
	submission string
	now        func() time.Time

	messages, recipients, bytes, oldest *prometheus.Desc
	total, frozen, totalBytes           *prometheus.Desc
}

// NewQueueCollector returns the collector over src; submission is the
// name shown for recipients not attempted yet (no next hop), as the queue
// viewer shows them.
func NewQueueCollector(src QueueSource, submission string) *QueueCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &QueueCollector{src: src, submission: submission, now: time.Now,
		messages:   d("mailward_queue_messages", "Messages with a recipient pending in the delivery queue.", "queue"),
		recipients: d("mailward_queue_recipients", "Recipients pending in the delivery queue.", "queue"),
		bytes:      d("mailward_queue_size_bytes", "Sizes of the messages with a recipient pending in the delivery queue.", "queue"),
		oldest:     d("mailward_queue_oldest_message_age_seconds", "Age of the oldest message with a recipient pending in the delivery queue.", "queue"),
		total:      d("mailward_spool_messages", "Messages in the queue, each counted once."),
		frozen:     d("mailward_spool_frozen_messages", "Messages frozen by an administrator."),
		totalBytes: d("mailward_spool_size_bytes", "Sizes of all the messages in the queue, each counted once."),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.messages, c.recipients, c.bytes, c.oldest, c.total, c.frozen, c.totalBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	s := c.src.Summary(now)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, h := range s.Hops {
		name := h.Hop
		if name == "" {
			name = c.submission
		}
		gauge(c.messages, float64(h.Messages), name)
		gauge(c.recipients, float64(h.Recipients), name)
		gauge(c.bytes, float64(h.Bytes), name)
		age := 0.0
		if !h.Oldest.IsZero() && now.After(h.Oldest) {
			age = now.Sub(h.Oldest).Seconds()
		}
		gauge(c.oldest, age, name)
	}
	gauge(c.total, float64(s.Messages))
	gauge(c.frozen, float64(s.Frozen))
	gauge(c.totalBytes, float64(s.Bytes))
}
