"""Certificates: issued once per student and course when every lesson is complete, rendered
as a PDF off the request's path, verified by anyone who holds the code."""
