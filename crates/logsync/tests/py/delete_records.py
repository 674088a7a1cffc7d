#!/usr/bin/env python3
"""confluent-kafka AdminClient.delete_records: delete TOPIC partition 0 below
OFFSET and print the new low watermark.

usage: delete_records.py BOOTSTRAP TOPIC OFFSET
"""
import sys

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient


def main():
    bootstrap, topic, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, 0, offset)], operation_timeout=10)
    for _, f in futures.items():
        result = f.result(30)
        print(result.low_watermark)


if __name__ == "__main__":
    main()
