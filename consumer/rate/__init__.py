"""Rate control: the pacer, the laws that set its rate, and a worker's part in a fleet sharing one
quota. Pure: it needs a clock and nothing of AWS; `consumer.aws` holds the botocore hooks and the
fleet table's DynamoDB adapter, `consumer.app` wires them together. docs/rate-control.md says how
it works.
"""
