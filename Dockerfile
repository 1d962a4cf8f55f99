# CityGrid dashboard and command line. The database is a separate PostGIS service
# (see docker-compose.yml); CITYGRID_DATABASE_URL points at it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CITYGRID_HOME=/var/lib/citygrid

# gdal-bin: ogr2ogr for format fallbacks; fonts: Chinese text in PDFs and map images
RUN apt-get update \
    && apt-get install -y --no-install-recommends gdal-bin fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/citygrid
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -c constraints.txt -r requirements.txt

COPY pyproject.toml README.md ./
COPY citygrid ./citygrid
COPY gis ./gis
COPY db ./db
COPY etl ./etl
COPY app ./app
COPY reports ./reports
COPY data ./data
RUN pip install --no-cache-dir --no-deps -e . \
    && useradd --system --create-home citygrid \
    && mkdir -p /var/lib/citygrid && chown citygrid /var/lib/citygrid

USER citygrid
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health')"
CMD ["citygrid", "serve", "--address", "0.0.0.0"]
