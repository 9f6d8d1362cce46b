"""Operations: the stack's alarms, their in-region notification topic and its dashboard."""
