"""An SQS worker that runs Cognito Identity unlink commands exactly once."""

__version__ = "0.1.0"
