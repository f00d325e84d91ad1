"""Amazon Bedrock — `.bedrock` (connector-types.md §1). Placeholder until the full type lands."""

from __future__ import annotations

from app.types.base import ConnectorType, Field, Schema


class BedrockConfig(Schema):
    apiUrl: str = Field("https://bedrock-runtime.us-east-1.amazonaws.com", label="URL", widget="url")
    defaultModel: str = Field("us.anthropic.claude-sonnet-4-5-20250929-v1:0", label="Default model")


class BedrockSecrets(Schema):
    accessKey: str = Field(label="Access key")
    secret: str = Field(label="Secret")


class Bedrock(ConnectorType):
    id = ".bedrock"
    name = "Amazon Bedrock"
    description = "Send prompts to models on Amazon Bedrock."
    config = BedrockConfig
    secrets = BedrockSecrets
