import boto3
import json
from django.conf import settings


class Sqs:

    def __init__(self, url):
        self.sqs = boto3.client('sqs',
                                region_name='ap-northeast-1',
                                aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
                                aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY)
        self.url = url

    def send_message(self, message, message_group_id=None):
        """
        キューにメッセージを送信する
        :param message:
        :param message_group_id:
        :return:
        """
        try:
            data = {
                'MessageBody': json.dumps(message), 'QueueUrl': self.url,
            }
            if message_group_id:
                data['MessageGroupId'] = message_group_id
            response = self.sqs.send_message(**data)

        except Exception as e:
            print(e)
            return None

        return response

    def change_message_visibility(self, receipt_handle, timeout):
        """
        可視性タイムアウトを延長する(秒で指定)
        :param receipt_handle:
        :param timeout:
        :return:
        """
        self.sqs.change_message_visibility(
            QueueUrl=self.url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=timeout
        )

    def delete_message(self, receipt_handle):
        """
        メッセージを削除する
        :param receipt_handle:
        :return:
        """
        self.sqs.delete_message(
            QueueUrl=self.url,
            ReceiptHandle=receipt_handle
        )
