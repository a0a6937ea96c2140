"""Training engine: configs, losses and the trainer (masker only; codec and prompt encoders frozen)."""
