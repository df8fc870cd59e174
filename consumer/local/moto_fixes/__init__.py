"""Fixes to moto's own SQS and DynamoDB, apart from the Cognito Identity emulation.

`sqs_serial` and `dynamodb_serial` make each operation atomic (moto's models are not
thread-safe and the stack serves each request on its own thread, so a conditional write or a
receive could have two winners); `sqs_speed` and `dynamodb_speed` take out moto's constant
factors without changing an answer; `sqs_trace` carries trace context; `sqs_size` counts a
message's size as SQS does (body and attributes, in bytes). `LocalStack` installs them all,
speed first.
"""
