from ..gateway import Gateway


class PayPalGateway(Gateway):
    name = "paypal"
    from werkzeug.routing import Map
    url_map = Map([])

    def reset(self):
        pass

    def state(self):
        return {}

    def error_body(self, status):
        return {"name": "INTERNAL_SERVER_ERROR"}
