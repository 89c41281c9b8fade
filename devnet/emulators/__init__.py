"""Local stand-ins for the cloud storage services (moto for S3, gcp-storage-emulator, Azurite).

Each runs as a process this machine starts on 127.0.0.1 and stops by PID.
"""
