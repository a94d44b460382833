"""Lambda containers on this machine: the Docker daemon, the stand-in Lambda base image, and SAM CLI's local runs."""
