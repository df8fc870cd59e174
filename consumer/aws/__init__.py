"""The AWS adapters: the SQS queue and its batcher, the Cognito executor with its pacing and rate
limiter, and the idempotency stores.
"""
