"""Fixes to moto's own SQS, apart from the Cognito Identity emulation.

`sqs_serial` makes each SQS operation atomic (moto's models are not thread-safe and the stack
serves each request on its own thread); `sqs_speed` takes out moto's constant factor without
changing an answer. `LocalStack` installs both, speed first.
"""
