#!/usr/bin/env python3
"""kafka-python: create a compacted topic with the admin client, produce
1,000 keyed records over 10 keys, roll the segment with one more record,
then consume from the beginning until only the latest value of each key is
left (the broker's cleaner runs in the background). Prints the final
key=value lines; exits 1 if compaction did not happen within 30 s.

usage: compact_admin.py BOOTSTRAP TOPIC
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def read_all(bootstrap, topic):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      consumer_timeout_ms=1500, auto_offset_reset="earliest")
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    records = [(m.key.decode(), m.value.decode()) for m in c]
    c.close()
    return records


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.01",
    })])
    admin.close()
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(1000):
        p.send(topic, key=("k%d" % (i % 10)).encode(), value=("v%d" % i).encode())
    p.flush()
    time.sleep(0.5)
    # A later record rolls the active segment (segment.ms) so the rest can be cleaned.
    p.send(topic, key=b"roll", value=b"r")
    p.flush()
    p.close()
    deadline = time.time() + 30
    records = []
    while time.time() < deadline:
        records = read_all(bootstrap, topic)
        if len(records) <= 11:
            break
        time.sleep(0.5)
    for k, v in records:
        sys.stdout.write("%s=%s\n" % (k, v))
    if len(records) > 11:
        sys.stderr.write("not compacted: %d records\n" % len(records))
        sys.exit(1)


if __name__ == "__main__":
    main()
