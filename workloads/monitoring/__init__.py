"""Model monitoring: serving features against the training reference, drift decisions, reports,
and the Vertex AI Model Monitoring request. No TensorFlow import at package level."""
