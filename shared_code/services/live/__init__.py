"""Live classes: their life and door (`classes.py`), who may do what in one (`class_access.py`),
the Web PubSub event handler (`events.py`), messages and throttled broadcasts (`messages.py`),
polls, chat, hands, presence, stage, moderation, attendance and the class snapshot."""
