"""The embedded local AWS stack: moto in server mode plus a stateful Cognito Identity."""
