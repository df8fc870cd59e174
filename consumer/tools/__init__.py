"""What an operator runs beside the worker: `send`, `dlq peek | redrive`, their progress bars."""
