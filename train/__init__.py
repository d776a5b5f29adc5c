"""Training side: data readers, feature cache, the loop, evaluation."""
