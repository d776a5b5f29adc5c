"""Training side: data readers, feature cache, the loop, evaluation."""
import model  # noqa: F401,E402  (first, so the OpenMP wait policy is set before torch loads)
